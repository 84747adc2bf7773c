// SDL/VDL weights in the authors' PyTorch names (github kevtimova/deep-sparse;
// engine/interop.h). The authors save the encoder and the decoder as two
// state_dicts (…_ENC_best.pth, …_DEC_best.pth); one file here holds both under
// the prefixes "encoder." and "decoder." (tools/torch2safetensors.py
// ENC.pth:encoder DEC.pth:decoder):
//
//   ours                    authors (models/*.py)
//   decoder.linear.weight   decoder.decoder.weight   linear_dictionary.Decoder
//   decoder.layer1.*        decoder.layer1.*         one_hidden_decoder.Decoder
//   decoder.layer2.weight   decoder.layer2.weight
//   encoder.U.*             encoder.W.*              lista_encoder.Encoder
//   encoder.S.weight        encoder.S.weight
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "sparseloop/engine/config.h"
#include "sparseloop/families/vdl/trainer.h"
#include "sparseloop/io/safetensors.h"

namespace sparseloop {

/// The authors' name of our tensor `ours` (model: sdl, vdl, sdl-nl, vdl-nl).
std::string vdl_authors_name(const std::string& model, const std::string& ours);

/// Writes the run folder common.out from the authors' tensors: code size,
/// hidden units and input size come from their shapes; the image shape is
/// image_size² × (input size / image_size²), or with image_size 0 a square
/// of 1 or 3 channels.
nlohmann::json import_vdl(const CommonTrainConfig& common, const VdlConfig& config,
                          const TensorFile& authors, int64_t image_size);

}  // namespace sparseloop
