//! `scout-tasks`: the tasks service as its own process.

fn main() -> std::process::ExitCode {
    scout_common::service::binary_main(scout_tasks::serve)
}
