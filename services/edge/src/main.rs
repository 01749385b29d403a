//! `scout-edge`: the edge as its own process.

fn main() -> std::process::ExitCode {
    scout_common::service::binary_main(scout_edge::serve)
}
