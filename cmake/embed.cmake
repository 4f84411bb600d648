# cmake -DIN=file -DOUT=file.c -DNAME=sym -DHEADER=h -P embed.cmake
# Writes OUT: IN's bytes as `const char ccp__<NAME>[]` and their count as
# `const size_t ccp__<NAME>_len`, so a source file (the wallboard page)
# ships inside the binary with no file to find at run time.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" nhex)
math(EXPR nbytes "${nhex} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){20})" "\\1\n\t" bytes "${bytes}")
file(WRITE "${OUT}.tmp"
  "/* Generated from ${IN} by cmake/embed.cmake; do not edit. */\n"
  "#include \"${HEADER}\"\n\n"
  "const char ccp__${NAME}[] = {\n\t${bytes}\n};\n"
  "const size_t ccp__${NAME}_len = ${nbytes};\n")
# Only a changed page rebuilds what includes it.
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
file(REMOVE "${OUT}.tmp")
