#pragma once
/// \file
/// Whole models: a Sequential of built-in layers (or of layers registered with register_layer)
/// saved with its architecture and its weights in one file, and loaded without rebuilding it
/// in code, as Keras' model.save / load_model:
///
///     tg::save_model(model, "model.tgm");
///     std::unique_ptr<tg::Sequential> again = tg::load_model("model.tgm");
///
/// File format "TGM1", version 1 (integers little-endian):
///
///     offset  size   field
///     0       4      magic "TGM1"
///     4       4      u32 format version (1)
///     8       8      u64 header length J
///     16      J      header: JSON (UTF-8), {"format": "tapegrad-model", "version": 1,
///                    "dtype": "float32" | "float64", "input_shape": [null, 50, 1],
///                    "model": the Sequential's description (nn/layers/layer_registry.h)}
///     16+J    8      u64 FNV-1a 64 checksum of the header
///     24+J    ...    the weights: a whole TGW1 file (nn/training/serialize.h), to the end
///
/// A layer's description holds its type, name, config (units, activation, options; wrappers nest
/// their layers) and trainable flag. Not saved: the optimizer (see checkpoints), a stateful
/// layer's carried states, per-parameter requires_grad set by hand.
///
/// save_model writes atomically (core/file_io.h). load_model reads regular files only, checks the
/// magic, version, header length against the file's size, the header's checksum, its JSON
/// (strict, nn/layers/json.h) and every layer's description before making anything, then the
/// weights as load_weights does (names, shapes, dtypes, checksum). Every refusal is an IOError
/// that names the file and says what was wrong; names read from the file are escaped.

#include <tapegrad/core/config.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tapegrad/nn/layers/sequential.h>

namespace tg {

/// Registers the recurrent layers and cells (SimpleRNN, LSTM, GRU, RNN, Bidirectional,
/// SimpleRNNCell, LSTMCell, GRUCell, LNSimpleRNNCell) with the layer registry. save_model and
/// load_model call it; calling it again does nothing.
void register_recurrent_layers();

/// The bytes of a model file for `model` (see the file comment). ValueError when the model is
/// not built (it needs its weights), a layer cannot be described (named), or its parameters
/// mix dtypes.
std::vector<unsigned char> model_to_bytes(const Sequential& model);
/// Writes model_to_bytes(model) to `path` atomically. IOError naming the path when it cannot be
/// written; ValueError as model_to_bytes.
void save_model(const Sequential& model, const std::string& path);

/// The model held in the bytes of a model file; `source` names them in messages. IOError for
/// anything wrong with the bytes (see the file comment).
std::unique_ptr<Sequential> load_model_from_bytes(std::span<const unsigned char> bytes, const std::string& source);
/// The model saved at `path`: built, with its weights, names, dtypes and trainable flags, in
/// training mode. IOError for a file that cannot be read or is not a valid model file.
std::unique_ptr<Sequential> load_model(const std::string& path);

}  // namespace tg
