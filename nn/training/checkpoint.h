#pragma once
/// \file
/// Checkpoints that resume training exactly: the weights, the optimizer's whole state (buffers,
/// step counts, learning rates: Optimizer::state_dict), the number of epochs done, the state of
/// the generator that shuffles (and of the calling thread's default generator, which dropout
/// draws from), the order of the samples (each epoch's shuffle permutes the previous order) and
/// the state of every callback that keeps one (EarlyStopping's best value and
/// wait, ReduceLROnPlateau's counters). Training 10 epochs, stopping, and resuming for 10 more
/// gives the weights of 20 epochs in one go, bit for bit.
///
///     tg::ModelCheckpoint save("run.tgc", "loss", false, tg::MonitorMode::min,
///                              tg::ModelCheckpoint::Save::training_state);
///     tg::fit(model, x, y, {.epochs = 10, .optimizer = &adam, .callbacks = {&save}});
///     // later, in a new process with the model and the optimizer built the same way:
///     tg::fit(model, x, y, {.epochs = 20, .optimizer = &adam, .callbacks = {&save},
///                           .resume_from = "run.tgc"});  // epochs 11 to 20
///
/// File format "TGC1", version 1, little-endian: the magic, a u32 version, a u32 entry count,
/// then the entries, each a u32 name length, the name (UTF-8), a u8 kind and its payload, and a
/// u64 FNV-1a 64 checksum of every byte before it. Kinds: 0 a tensor (u8 dtype 0 float32 / 1
/// float64, u8 rank, i64 dims, the elements row-major), 1 a float64, 2 an i64, 3 a string (u64
/// length, bytes), 4 a list of i64 (u64 count, the values). Names: "epochs_done"; "model.<parameter
/// path>"; "plan.order" (the sample order the next shuffle permutes); "optimizer" (its name),
/// "optimizer.tensor.<n>", "optimizer.counter.<n>", "optimizer.value.<n>" (the state_dict's
/// entries); "generator", "default_generator" (Generator::state); "callbacks" (their count),
/// "callback.<i>" (its name), "callback.<i>.value.<k>", "callback.<i>.tensor.<k>".
///
/// Saving writes a unique temporary and renames it over the path (core/file_io.h): a crash never
/// leaves half a checkpoint. Loading reads the whole file bounded by its size, checks its
/// structure (magic, version, sizes against the bytes left, checksum) and then that it fits the
/// training (every parameter by name, shape and dtype; the optimizer's kind and layout; the
/// callbacks' names in order) before changing anything.

#include <tapegrad/core/config.h>

#include <string>

#include <tapegrad/nn/training/callbacks.h>

namespace tg {

/// Writes a checkpoint of `context` (model, optimizer, generator, callbacks) after `epochs_done`
/// epochs to `path`, atomically. ValueError when the model or the optimizer is missing; IOError
/// when the file cannot be written.
void save_checkpoint(const std::string& path, const TrainingContext& context, int epochs_done);

/// Reads a checkpoint into `context`: the weights, the optimizer's state, the generators'
/// states and each callback's state (load_state). Returns the number of epochs it was written
/// after: the initial epoch of the resumed training. IOError for a file that cannot be read, is
/// not a checkpoint, has another version, is truncated or fails its checksum; ShapeError or
/// DTypeError for a parameter that does not match the model; ValueError for an optimizer of
/// another kind or layout, or callbacks that differ from those saved. Nothing is changed when it
/// throws, except by a callback's own load_state.
int load_checkpoint(const std::string& path, const TrainingContext& context);

}  // namespace tg
