# End-to-end runs of the built `ilvr` executable with the ODE solvers on the
# bundled model (ctest cli.solvers): --sampler dpm++2m and heun, 4 steps, one
# sample at N = 4. Each must exit 0 and write a PNG sample; the two samples must
# differ from each other and from --sampler ddim's (so the option reaches the
# library); an unknown sampler exits with code 2 and names the four.
# cmake -DILVR=<ilvr executable> -DOUT=<folder> -P solvers.cmake
if(NOT ILVR OR NOT OUT)
    message(FATAL_ERROR "usage: cmake -DILVR=<ilvr> -DOUT=<folder> -P solvers.cmake")
endif()
file(REMOVE_RECURSE "${OUT}")
set(sample t10k-0000-ankle-boot/N4/sample-0.png)
foreach(sampler ddim dpm++2m heun)
    execute_process(COMMAND "${ILVR}" --sampler ${sampler} --respacing 4 --samples 1 --factor 4 --quiet
                            --out "${OUT}/${sampler}"
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
        message(FATAL_ERROR "--sampler ${sampler}: exit ${code}\nstdout: ${out}\nstderr: ${err}")
    endif()
    if(NOT EXISTS "${OUT}/${sampler}/${sample}")
        message(FATAL_ERROR "--sampler ${sampler}: missing ${OUT}/${sampler}/${sample}")
    endif()
    file(READ "${OUT}/${sampler}/${sample}" head LIMIT 8 HEX)
    if(NOT head STREQUAL "89504e470d0a1a0a")
        message(FATAL_ERROR "${OUT}/${sampler}/${sample} is not a PNG")
    endif()
    file(SHA256 "${OUT}/${sampler}/${sample}" hash_${sampler})
endforeach()
if(hash_ddim STREQUAL hash_dpm++2m OR hash_ddim STREQUAL hash_heun OR hash_dpm++2m STREQUAL hash_heun)
    message(FATAL_ERROR "two samplers wrote the same sample: the option does not reach the library")
endif()
execute_process(COMMAND "${ILVR}" --sampler euler --out "${OUT}/bad"
                RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 2 OR NOT err MATCHES "expected ddpm, ddim, dpm\\+\\+2m or heun")
    message(FATAL_ERROR "unknown sampler: exit ${code}, stderr: ${err}")
endif()
message(STATUS "ilvr --sampler dpm++2m and heun end to end: ok")
