// Finding the system's CA certificate store (internal).
#pragma once

#include <filesystem>
#include <optional>

namespace tlsio::detail {

/// The system CA bundle file or directory, looked for once per process.
const std::optional<std::filesystem::path> &system_ca_store();

} // namespace tlsio::detail
