#pragma once
/// \file
/// A model's weights under PyTorch's names and layouts (torch.nn state_dict), so that a model
/// trained in PyTorch loads into the same tapegrad model and predicts the same values, and back.
///
/// The model is walked depth first; every built-in layer with weights becomes the torch.nn module
/// of the same math at the same path, the path's parts joined by dots as state_dict does: the
/// layers of a Sequential by their position ("0", "1", ..., counting every layer, as
/// torch.nn.Sequential does), the children of other modules by their names. Layers without
/// weights (Dropout, Flatten, RepeatVector, Masking, ...) are skipped; a container (Sequential,
/// TimeDistributed, a user's model) is entered; any other layer with weights is refused with a
/// ValueError naming it.
///
///   tapegrad layer        torch.nn module   tensors (tapegrad -> torch)
///   Dense                 Linear            weight = kernel.T ([in, out] -> [out, in]); bias
///   Conv1D                Conv1d            weight[o, f, k] = kernel[k, f, o]; bias
///   LayerNormalization    LayerNorm         weight = gamma; bias = beta
///   Embedding             Embedding         weight = embeddings
///   SimpleRNN             RNN               weight_ih_l0 = kernel.T, weight_hh_l0 = recurrent_kernel.T,
///                                           bias_ih_l0 = bias, bias_hh_l0 = 0
///   LSTM                  LSTM              as RNN, 4 gate blocks in the same order
///                                           (Keras i, f, c, o = torch i, f, g, o)
///   GRU (reset_after)     GRU               as RNN with the first two gate blocks swapped
///                                           (Keras z, r, h <-> torch r, z, n), bias_ih_l0 =
///                                           bias[0], bias_hh_l0 = bias[1] (blocks swapped too)
///
/// Loading sums the two torch biases of RNN and LSTM (they only ever add). What a state_dict
/// does not hold must match by construction: the torch model's batch_first = True inputs, the
/// activations, LayerNorm's eps (torch 1e-5, Keras 1e-3), Conv1d's padding; docs/interchange.md
/// gives the torch modules that match.

#include <tapegrad/core/config.h>

#include <span>
#include <string>

#include <tapegrad/nn/layers/module.h>
#include <tapegrad/nn/training/safetensors.h>

namespace tg {

/// The model's weights under torch.nn names and layouts, in the model's order: what
/// `torch_module.state_dict()` holds for the matching torch module. ValueError naming a layer
/// with weights that has no torch.nn counterpart, or that is not built.
NamedTensors to_torch_state_dict(const Module& model);

/// Sets the model's weights from a torch state_dict (`state`: torch names and layouts, see the
/// table above). Every tensor the model needs must be there with the shape its layer implies
/// (ShapeError naming it, the shape found and the shape expected) and the model's dtype
/// (DTypeError); a tensor left over is a ShapeError too. Everything is checked before any
/// parameter changes. `source` names the state in messages.
void load_torch_state_dict(Module& model, const NamedTensors& state, const std::string& source = "state_dict");

/// Writes to_torch_state_dict(model) as safetensors (metadata {"format": "pt"}), the file
/// `safetensors.torch.load_file` or the reader of docs/interchange.md hands to
/// `load_state_dict` of the matching torch module.
void save_torch_safetensors(const Module& model, const std::string& path);

/// Reads a safetensors file of torch weights (e.g. `safetensors.torch.save_file(m.state_dict())`)
/// into the model with load_torch_state_dict. Errors of read_safetensors and
/// load_torch_state_dict; nothing is changed when it throws.
void load_torch_safetensors(Module& model, const std::string& path);

/// load_torch_safetensors from bytes held in memory; `source` names them in messages.
void load_torch_safetensors_from_bytes(Module& model, std::span<const unsigned char> bytes, const std::string& source);

}  // namespace tg
