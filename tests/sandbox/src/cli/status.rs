//! `sandbox status`: core's cluster view of the running region, as a table or JSON. Exit 0
//! when the region is healthy, 3 when it is not.

use std::process::ExitCode;

use super::runtime;
use crate::config;
use crate::error::Result;

pub fn run(json: bool) -> Result<ExitCode> {
    let cluster = config::cluster()?;
    let s = runtime()?.block_on(crate::status::gather(&cluster));
    if json {
        println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
    } else {
        print!("{}", s.table());
    }
    Ok(if s.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
