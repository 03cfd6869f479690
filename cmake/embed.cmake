# vodq_embed(HEADER TYPE PREFIX PART COMMENT FILE...): writes HEADER with one
# `static const TYPE PREFIX<name>[] = {bytes, 0};` per FILE, <name> being the
# C identifier of the file's NAME_WE or NAME (PART); rewritten only when it
# changes, and CMake re-runs when a file changes. Used for the Lua scripts
# (shared/) and the dashboard files (scheduler/).
function(vodq_embed header type prefix part comment)
  set(body "/* generated from ${comment}; do not edit */\n")
  foreach(f ${ARGN})
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${f})
    file(READ ${f} hex HEX)
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
    get_filename_component(n ${f} ${part})
    string(MAKE_C_IDENTIFIER "${n}" id)
    string(APPEND body "static const ${type} ${prefix}${id}[] = {${hex} 0};\n")
  endforeach()
  file(WRITE ${header}.tmp "${body}")
  file(COPY_FILE ${header}.tmp ${header} ONLY_IF_DIFFERENT)
endfunction()
