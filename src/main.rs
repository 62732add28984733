fn main() -> std::process::ExitCode {
    entra_source::cli::main()
}
