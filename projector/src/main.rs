//! `projector`: its commands and settings are in [`projector::cli`] (`projector --help`).

/// A replay decodes and folds millions of small JSON values on several threads (events are
/// allocated by the reader and freed by the fold): with glibc's allocator a quarter of that CPU
/// went to malloc and free; mimalloc takes about a quarter less CPU for the same fold.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    platform::chassis::main::<projector::cli::Cli>()
}
