//! `query-api`: its commands and settings are in [`query_api::cli`] (`query-api --help`).

/// Every connection allocates and frees its buffers on both worker threads; under the bench's
/// connection overload mimalloc keeps the peak RSS lower than glibc's malloc (BENCHMARKS.md,
/// "Figures behind choices in the code").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    platform::chassis::main::<query_api::cli::Cli>()
}
