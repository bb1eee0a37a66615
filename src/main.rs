//! The `mortalsim` command: the library's command line ([`mortalsim::cli`]) with the built-in
//! learning rules.

fn main() {
    std::process::exit(mortalsim::cli::main());
}
