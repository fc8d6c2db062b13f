#pragma once
/// \file
/// Saving and loading a module's parameters.
///
/// File format "TGW1", version 1. All integers are little-endian; elements are IEEE-754 in
/// little-endian byte order.
///
///     offset  size   field
///     0       4      magic "TGW1"
///     4       4      u32 format version (1)
///     8       4      u32 parameter count N
///     then N records, in named_parameters() order:
///             4      u32 name length L
///             L      name, UTF-8, no terminator ("0.kernel", "1.cell.recurrent_kernel")
///             1      u8 dtype: 0 float32, 1 float64
///             1      u8 rank R (0..6)
///             8*R    i64 dims
///             n*s    elements, row-major (n = product of dims, s = 4 or 8)
///     end-8   8      u64 FNV-1a 64 checksum of every byte before it
///
/// save_weights writes a new, uniquely named temporary file in the directory of `path`, flushes it
/// to disk (fsync), renames it over `path` and flushes the directory (core/file_io.h), so a reader,
/// a process saving to the same path at the same time, or a process after a crash or power loss
/// sees either the old file or the complete new one, never a part. A symbolic link at `path` is
/// replaced by the new file (the file it pointed to is left as it was); a user's `path.tmp` is
/// never touched. load_weights reads regular files only (a FIFO, a device or a directory is
/// refused at once), at most their size; it checks the whole file (magic, version, the parameter
/// count against the file's size before allocating for it, structure, checksum) and compares it
/// with the model (parameter count, names, shapes, dtypes) before changing any parameter: a failed
/// load leaves the model as it was. Names read from a file are escaped in error messages
/// (escape_for_message: control bytes and invalid UTF-8 as `\xNN`, cut after 256 bytes).

#include <tapegrad/core/config.h>

#include <span>
#include <string>
#include <vector>

#include <tapegrad/nn/layers/module.h>

namespace tg {

/// Writes every parameter of `model` to `path` (atomically). IOError naming the path when it
/// cannot be written.
void save_weights(const Module& model, const std::string& path);

/// The bytes save_weights writes (a whole TGW1 file), for containers that hold one.
std::vector<unsigned char> weights_to_bytes(const Module& model);

/// Reads parameters written by save_weights into `model`, which must have the same architecture
/// (build it first). Throws IOError for a file that cannot be read, is not a weights file, has
/// another version, is truncated or fails its checksum; ShapeError when the parameter count,
/// names or shapes differ from the model's (naming the first difference); DTypeError when a
/// parameter's dtype differs. Nothing is changed when it throws.
void load_weights(Module& model, const std::string& path);

/// load_weights from the bytes of a weights file held in memory; `source` names them in the
/// messages. Same checks and errors; nothing is changed when it throws.
void load_weights_from_bytes(Module& model, std::span<const unsigned char> bytes, const std::string& source);

}  // namespace tg
