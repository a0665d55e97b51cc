//! `query-api`: its commands and settings are in [`query_api::cli`] (`query-api --help`).

/// Every connection allocates and frees its buffers on both worker threads; under the bench's
/// 1,024-connection overload glibc malloc peaked at 98 MiB RSS, mimalloc at 85 (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    platform::chassis::main::<query_api::cli::Cli>()
}
