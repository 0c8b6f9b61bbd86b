# The README's install path from a clean configure: configure the source tree into
# a new folder, `cmake --install` it at once (nothing built), then build the
# consumer project against that prefix with find_package. Run by ctest
# (consumer.fresh_install) with -DSOURCE= -DWORK= -DGENERATOR= -DCOMPONENTS=.
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/build -G ${GENERATOR} -DILVR_BUILD_TESTS=OFF
                        -DILVR_BUILD_BENCHMARKS=OFF
                RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "configuring a fresh build failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --install ${WORK}/build --prefix ${WORK}/prefix RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "cmake --install straight after configuring failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_CTEST_COMMAND} --build-and-test ${SOURCE}/tests/consumer/project ${WORK}/consumer
                        --build-generator ${GENERATOR}
                        --build-options -DILVR_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${WORK}/prefix
                                        -DILVR_CONSUMER_COMPONENTS=${COMPONENTS} -DCMAKE_BUILD_TYPE=Release
                        --test-command consumer
                RESULT_VARIABLE rc)
if(rc)
    message(FATAL_ERROR "the consumer did not build or run against the fresh install (${rc})")
endif()
