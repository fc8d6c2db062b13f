#pragma once
/// \file
/// Little-endian integers in byte buffers, and the FNV-1a checksum: the pieces every tapegrad
/// file format (weights TGW1, models TGM1, checkpoints TGC1, safetensors) writes and reads.

#include <tapegrad/core/config.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tg {

/// Appends the low `bytes` bytes of v, least significant first.
inline void put_uint(std::vector<unsigned char>& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

/// The unsigned integer stored in `bytes` bytes at p, least significant first.
inline std::uint64_t get_uint(const unsigned char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(p[i]) << (8 * i);
  return v;
}

/// 64-bit FNV-1a of n bytes: a checksum against corruption, not against forgery.
inline std::uint64_t fnv1a64(const unsigned char* data, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace tg
