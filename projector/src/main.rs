//! `projector`: its commands and settings are in [`projector::cli`] (`projector --help`).

/// A replay decodes and folds millions of small JSON values on several threads (events are
/// allocated by the reader and freed by the fold): glibc's malloc and free took a large share of
/// that CPU, mimalloc much less (BENCHMARKS.md, "Figures behind choices in the code").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    platform::chassis::main::<projector::cli::Cli>()
}
