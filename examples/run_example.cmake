# SPDX-License-Identifier: Apache-2.0
# Runs an example program (PROG) twice with a fresh database directory
# under WORK: once creating the database, once reopening it, since every
# example must work either way. WORK is removed afterwards, also when the
# program fails. cmake -DPROG=... -DWORK=... -P run_example.cmake
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(failed "")
foreach(run create reopen)
  execute_process(COMMAND ${PROG} ${WORK}/db RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${run}: ${out}${err}")
  if(NOT rc EQUAL 0)
    set(failed "${PROG} (${run}): exit ${rc}")
    break()
  endif()
endforeach()
file(REMOVE_RECURSE ${WORK})
if(failed)
  message(FATAL_ERROR "${failed}")
endif()
