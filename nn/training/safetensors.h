#pragma once
/// \file
/// Weights in safetensors, the format PyTorch users and the Hugging Face hub exchange
/// (https://github.com/huggingface/safetensors), read and written next to TGW1 (serialize.h).
///
///     offset  size   field
///     0       8      u64 little-endian N, the header's length in bytes
///     8       N      the header: a JSON object, UTF-8, maybe padded at its end with spaces
///                    { "<name>": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
///                      ...,
///                      "__metadata__": {"<key>": "<value>", ...} }      (optional)
///     8+N    ...    the buffer: every tensor's elements, row-major, little-endian, at
///                    [8 + N + begin, 8 + N + end) for its data_offsets [begin, end)
///
/// F32 and F64 are read and written; a file holding another dtype (F16, BF16, I64, ...) is refused
/// with a DTypeError naming the tensor and its dtype. The writer pads the header with spaces to a
/// multiple of 8 bytes (as the reference writer does), so every buffer is 8-byte aligned, and puts
/// the tensors in the order given, one after the other.
///
/// The reader checks the whole file before it allocates a tensor or changes a parameter, as TGW1
/// loading does: the file is a regular file read up to its size (core/file_io.h); the header's
/// length lies inside the file and below 100 MB (the reference reader's bound); the header is
/// well-formed UTF-8 JSON (a strict reader: no comments, no trailing commas, no duplicate keys,
/// nesting no deeper than the format needs) with exactly the fields above; every dtype is known,
/// every shape has at most kMaxRank non-negative sizes, every tensor's byte count
/// (product(shape) * dtype size, overflow-checked) equals end - begin; the tensors, sorted by
/// offset, cover the buffer exactly (the first begins at 0, each begins where the one before
/// ended: no overlap and no hole, the last ends at the end of the file); no name comes twice.
/// Every failure is an IOError (DTypeError for an unsupported dtype) naming the file, and saying
/// what was expected and what came; names from the file are escaped (escape_for_message).

#include <tapegrad/core/config.h>

#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/core/tensor.h>
#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Tensors with their names, in order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
/// The header's optional "__metadata__": string keys to string values.
using SafetensorsMetadata = std::map<std::string, std::string>;

/// What a safetensors file holds: its tensors (new tensors, not requiring gradients, in the
/// order of their offsets) and its metadata.
struct SafetensorsContents {
  /// The tensors by name, in the order of their offsets.
  NamedTensors tensors;
  /// The "__metadata__" strings.
  SafetensorsMetadata metadata;
};

/// The largest header a file may claim (the reference implementation's bound).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100'000'000;

/// The bytes of a safetensors file holding `tensors` (and `metadata` when not empty). ValueError
/// for a name that is not well-formed UTF-8, comes twice, or is "__metadata__", or an undefined
/// tensor.
std::vector<unsigned char> safetensors_bytes(const NamedTensors& tensors, const SafetensorsMetadata& metadata = {});

/// Writes safetensors_bytes(tensors, metadata) to `path` atomically (core/file_io.h).
void write_safetensors(const std::string& path, const NamedTensors& tensors, const SafetensorsMetadata& metadata = {});

/// Reads and checks the safetensors file at `path` (see the file's documentation for the checks).
SafetensorsContents read_safetensors(const std::string& path);

/// read_safetensors from bytes held in memory; `source` names them in messages.
SafetensorsContents parse_safetensors(std::span<const unsigned char> bytes, const std::string& source);

/// Writes every parameter of `model` under its named_parameters() name ("0.kernel",
/// "1.cell.recurrent_kernel"), with the metadata {"format": "tapegrad"}.
void save_safetensors(const Module& model, const std::string& path);

/// Reads a file written by save_safetensors (or any file whose tensors carry the model's
/// parameter names) into `model`, which must be built. Throws what read_safetensors throws;
/// ShapeError naming the first parameter the file lacks, the first tensor the model lacks, or a
/// shape that differs; DTypeError when a dtype differs. Nothing is changed when it throws.
void load_safetensors(Module& model, const std::string& path);

/// load_safetensors from bytes held in memory; `source` names them in messages.
void load_safetensors_from_bytes(Module& model, std::span<const unsigned char> bytes, const std::string& source);

/// Copies `tensors` into `model`'s parameters by name: every parameter must have exactly one
/// tensor of its shape and dtype, and no tensor may be left over (ShapeError / DTypeError, with
/// `who` and `source` in the message). Checks everything before it writes; marks each parameter
/// changed (its version) once written.
void assign_named_parameters(Module& model, const NamedTensors& tensors, const std::string& who,
                             const std::string& source);

}  // namespace tg
