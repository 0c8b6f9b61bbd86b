# End-to-end runs of the built `ilvr` executable with the ODE solvers on the
# bundled model (ctest cli.solvers): --sampler dpm++2m, dpm++2m-sde and heun, 4
# steps, one sample at N = 4. Each must exit 0 and write a PNG sample; the samples
# must differ from each other and from --sampler ddim's (so the option reaches the
# library); dpm++2m-sde with --eta 0 must write dpm++2m's sample, byte for byte
# (eta reaches the solver); an unknown sampler exits with code 2 and names the five.
# cmake -DILVR=<ilvr executable> -DOUT=<folder> -P solvers.cmake
if(NOT ILVR OR NOT OUT)
    message(FATAL_ERROR "usage: cmake -DILVR=<ilvr> -DOUT=<folder> -P solvers.cmake")
endif()
file(REMOVE_RECURSE "${OUT}")
set(sample t10k-0000-ankle-boot/N4/sample-0.png)
foreach(run ddim dpm++2m dpm++2m-sde heun dpm++2m-sde:0)
    string(REPLACE ":" ";" parts "${run}")
    list(GET parts 0 sampler)
    set(eta "")
    if(run MATCHES ":")
        list(GET parts 1 value)
        set(eta --eta ${value})
    endif()
    string(REPLACE ":" "-eta" sampler_dir "${run}")
    execute_process(COMMAND "${ILVR}" --sampler ${sampler} ${eta} --respacing 4 --samples 1 --factor 4 --quiet
                            --out "${OUT}/${sampler_dir}"
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
        message(FATAL_ERROR "--sampler ${sampler} ${eta}: exit ${code}\nstdout: ${out}\nstderr: ${err}")
    endif()
    if(NOT EXISTS "${OUT}/${sampler_dir}/${sample}")
        message(FATAL_ERROR "--sampler ${sampler} ${eta}: missing ${OUT}/${sampler_dir}/${sample}")
    endif()
    file(READ "${OUT}/${sampler_dir}/${sample}" head LIMIT 8 HEX)
    if(NOT head STREQUAL "89504e470d0a1a0a")
        message(FATAL_ERROR "${OUT}/${sampler_dir}/${sample} is not a PNG")
    endif()
    file(SHA256 "${OUT}/${sampler_dir}/${sample}" hash_${sampler_dir})
endforeach()
set(hashes ${hash_ddim} ${hash_dpm++2m} ${hash_dpm++2m-sde} ${hash_heun})
list(REMOVE_DUPLICATES hashes)
list(LENGTH hashes distinct)
if(NOT distinct EQUAL 4)
    message(FATAL_ERROR "two samplers wrote the same sample: the option does not reach the library")
endif()
if(NOT hash_dpm++2m-sde-eta0 STREQUAL hash_dpm++2m)
    message(FATAL_ERROR "--sampler dpm++2m-sde --eta 0 differs from --sampler dpm++2m")
endif()
execute_process(COMMAND "${ILVR}" --sampler euler --out "${OUT}/bad"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 2 OR NOT err MATCHES "expected ddpm, ddim, dpm\\+\\+2m, dpm\\+\\+2m-sde or heun")
    message(FATAL_ERROR "unknown sampler: exit ${code}, stderr: ${err}")
endif()
message(STATUS "ilvr --sampler dpm++2m, dpm++2m-sde and heun end to end: ok")
