//! The gateway's configuration: the TOML file users write, parsed once into typed values.
//!
//! Every key here is public contract (documented in the README). Unknown keys are rejected so
//! a typo is reported with its line instead of being silently ignored. Relative paths are
//! resolved against the working directory, like the paths in the default `config/gateway.toml`.

mod file;
mod sections;
mod source;
mod traffic;
mod upstream;

pub use file::{ConfigError, load, parse};
pub use sections::{
    AccessLogConfig, AccessLogFormat, AdminConfig, Config, DemoConfig, DescriptorsConfig,
    ErrorsConfig, LimitsConfig, MetadataConfig, RoutingConfig, ServerConfig, TracingConfig,
};
pub use source::ConfigSource;
pub use traffic::{DiscoveryConfig, OverrideConfig, Source, TrafficConfig};
pub use upstream::{Balance, HealthCheckConfig, OutlierConfig, RetryConfig, UpstreamConfig};

/// The configuration compiled into the binary: what `h2gate serve` runs when no config file exists.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../config/gateway.toml");
