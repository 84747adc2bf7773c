// Checks of what a family keeps in a checkpoint's state.json `extra` object
// (TrainState::extra). The file comes from disk, where a person, a disk
// error or another program may have changed it: a family reads its fields
// with nlohmann's get<>() and value(), which throw a type_error (exit 1, a
// library message) for {"stale_validations": "3"} and silently truncate 7.5.
// Each family therefore declares the fields it reads (LoopSpec::check_extra,
// engine/loop.h), and --resume checks them before training goes on: a
// damaged field makes the checkpoint damaged (docs/reliability.md §3).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace sparseloop {

/// InputError "SOURCE: damaged ('extra.KEY' is …, expected an integer >=
/// MIN)" unless extra[KEY] is absent or such an integer.
void check_extra_integer(const nlohmann::json& extra, const std::string& key, int64_t min,
                         const std::string& source);

/// InputError naming SOURCE and KEY unless extra[KEY] is absent or a finite
/// number (JSON has no NaN or infinity: nlohmann writes them as null).
void check_extra_number(const nlohmann::json& extra, const std::string& key,
                        const std::string& source);

/// InputError naming SOURCE and KEY unless extra[KEY] is absent or an object
/// (e.g. the record of metrics the loop keeps as "last_validation").
void check_extra_object(const nlohmann::json& extra, const std::string& key,
                        const std::string& source);

}  // namespace sparseloop
