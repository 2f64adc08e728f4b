// What a run prints for people (the table, the negotiated parameters, the targets) and
// writes for programs (JSON).
#pragma once

#include "figure.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace bench {

/// The figure of `which` measured under the same key as `like`, if any.
const figure_result *counterpart(const std::vector<figure_result> &all, const figure_spec &like,
                                 impl which);

void print_negotiated(std::FILE *out, const std::vector<figure_result> &all);
void print_table(std::FILE *out, const std::vector<figure_result> &all);
void print_errors(std::FILE *out, const std::vector<figure_result> &all);
/// The targets, each with the measured ratio: reported, never asserted.
void print_targets(std::FILE *out, const std::vector<figure_result> &all);

/// One line of progress while measuring.
std::string one_line(const figure_result &r);

/// A JSON array with one object per figure. false if the file cannot be written.
bool write_json(const std::string &path, const std::vector<figure_result> &all);

/// handshakes/s against concurrency per implementation (1 thread, the first certificate and
/// group), drawn with gnuplot and bench/plot.gnuplot. false with a message if it failed.
bool write_chart(const std::string &png, const std::vector<figure_result> &all,
                 std::string &message);

} // namespace bench
