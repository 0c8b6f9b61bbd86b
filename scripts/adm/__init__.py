"""The project's own PyTorch port of the ADM UNet (guided-diffusion's network).

unet.py builds the network from create_model's keyword arguments and loads the
official state dicts strictly; flags.py turns the official command-line flags
or a JSON configuration into those arguments; export.py writes a TorchScript
file that describes itself (docs/paper-models.md).
"""
