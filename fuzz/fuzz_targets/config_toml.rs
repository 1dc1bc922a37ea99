//! The config: arbitrary text never panics in parsing or validation, and a parsed config prints
//! as TOML that parses back to the same config.
#![no_main]

use std::path::Path;

use gapmap::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("fuzz.toml");
    if let Ok(config) = Config::from_toml(text, path) {
        let _ = config.validate();
        let _ = config.serve.validate();
        if let Ok(printed) = config.to_toml() {
            let again = Config::from_toml(&printed, path).unwrap_or_else(|e| panic!("printed config does not parse back: {e}\n{printed}"));
            assert_eq!(format!("{config:?}"), format!("{again:?}"), "round trip changed the config:\n{printed}");
        }
    }
});
