# End-to-end run of the built `ilvr` executable on the bundled model (ctest
# cli.end_to_end): a few steps, 2 samples, factors 4 and 8; checks the exit code,
# (then --mask with --repaint and --factor-schedule, one sample each)
# the printed paths, the grid and every sample PNG; then that a bad input exits
# with code 2 and one error line.
# cmake -DILVR=<ilvr executable> -DOUT=<folder> -P end_to_end.cmake
if(NOT ILVR OR NOT OUT)
    message(FATAL_ERROR "usage: cmake -DILVR=<ilvr> -DOUT=<folder> -P end_to_end.cmake")
endif()
file(REMOVE_RECURSE "${OUT}")

execute_process(COMMAND "${ILVR}" --respacing 5 --samples 2 --factor 4,8 --threads 2 --out "${OUT}"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0)
    message(FATAL_ERROR "ilvr exited with ${code}\nstdout: ${out}\nstderr: ${err}")
endif()
if(NOT out MATCHES "grid: ${OUT}/grid.png" OR NOT out MATCHES "samples: ${OUT}")
    message(FATAL_ERROR "unexpected stdout: ${out}")
endif()
if(NOT err MATCHES "100%")
    message(FATAL_ERROR "no progress on stderr: ${err}")
endif()
foreach(file grid.png
             t10k-0000-ankle-boot/N4/sample-0.png t10k-0000-ankle-boot/N4/sample-1.png
             t10k-0000-ankle-boot/N8/sample-0.png t10k-0000-ankle-boot/N8/sample-1.png)
    if(NOT EXISTS "${OUT}/${file}")
        message(FATAL_ERROR "missing ${OUT}/${file}")
    endif()
    file(READ "${OUT}/${file}" head LIMIT 8 HEX)
    if(NOT head STREQUAL "89504e470d0a1a0a")
        message(FATAL_ERROR "${OUT}/${file} is not a PNG")
    endif()
endforeach()

# The other conditioners on the bundled model: inpainting (with RePaint
# resampling) by a mask, and a factor schedule; one sample each, 6 steps.
get_filename_component(source "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
foreach(mode "inpaint;--mask;${source}/docs/images/inputs/mask-centre.png;--repaint;3,2"
             "schedule;--factor-schedule;1000:500=8,500:0=2")
    list(POP_FRONT mode row)
    execute_process(COMMAND "${ILVR}" --respacing 6 --samples 1 --threads 2 --quiet ${mode} --out "${OUT}/${row}"
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0 OR NOT EXISTS "${OUT}/${row}/t10k-0000-ankle-boot/${row}/sample-0.png"
       OR NOT EXISTS "${OUT}/${row}/grid.png")
        message(FATAL_ERROR "ilvr ${mode}: exit ${code}\nstdout: ${out}\nstderr: ${err}")
    endif()
endforeach()

execute_process(COMMAND "${ILVR}" --factor 0 --out "${OUT}/bad"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 2 OR NOT err MATCHES "^ilvr: error: [^\n]*\n$" OR EXISTS "${OUT}/bad")
    message(FATAL_ERROR "bad factor: exit ${code}, stderr: ${err}")
endif()
message(STATUS "ilvr end to end: ok")
