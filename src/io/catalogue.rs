//! Reading the facility catalogue TOML and merging user overrides.
