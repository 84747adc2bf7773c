// TOML text handed to toml++ without its undefined behaviour.
//
// Debian's toml++ 3.3.0 reaches __builtin_unreachable (undefined behaviour in
// every build) in is_non_ascii_horizontal_whitespace() for most code points
// of U+00A1–U+0499, U+2C5E–U+3057 (bar U+3000) and U+FB26–U+FEFE (Latin-1 letters like
// 'é' among them) whenever it asks whether one is whitespace: after a bare
// key, in a value, in a quoted key (which it records), after a backslash in
// a multi-line string. A guard that tries to tell strings from the rest is a
// TOML lexer of its own and can be fooled (the fuzz target toml_config found
// `seed = 347617VV'''V` followed by such a character). So the text toml++
// sees holds none of those code points at all: each is moved to the
// supplementary private-use plane (U+F0000 + c), where toml++'s predicate is
// well defined and answers as it would have ("not whitespace"), and keys and
// strings are moved back after parsing (docs/reliability.md §1).
#pragma once

#include <string>

#include <toml++/toml.h>

namespace sparseloop {

/// Parses TOML `text` read from `source` (a file name, for messages).
/// InputError "SOURCE: not valid TOML (WHY at line N)" for text that is not
/// UTF-8, holds a non-ASCII character outside a string or comment, holds a
/// code point of the range this guard reserves (U+F00A1–U+FFEFE), or that
/// toml++ rejects. Keys and strings of the table are as toml++ read them
/// from the guarded text: pass each through toml_text_as_written().
toml::table parse_toml(const std::string& text, const std::string& source);

/// Reads and parses the file `path` as parse_toml() does; InputError
/// "PATH: no such file" when it is missing.
toml::table parse_toml_file(const std::string& path);

/// A key or string of a table from parse_toml() with the characters the
/// text held (the guard's private-use stand-ins moved back).
std::string toml_text_as_written(const std::string& s);

/// True for the code points on which toml++ 3.3.0's
/// is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable.
bool toml_whitespace_check_is_undefined(char32_t c);

}  // namespace sparseloop
