//! The wit-bindgen guest bindings of the plugin worlds and the glue the attribute macros expand to.
//! Not for authors.
//!
//! 0.1.0's worlds come from its frozen copy in `wit/deps/`, so their modules keep the name `operator`;
//! the connector worlds come from 0.2.0 (`operator0_2_0`) and reuse 0.1.0's `types` and `host`.

pub mod connector;
mod reducer;
mod state;
mod transform;

/// Bindings of the `transform` world; the shared `types` and `host` interfaces live here.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/deps/operator-0.1.0",
        world: "transform",
        pub_export_macro: true,
        export_macro_name: "__export_transform_world",
        default_bindings_module: "weir::__private::bindings",
    });
}

/// Bindings of the `reducer` world.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod reducer_bindings {
    wit_bindgen::generate!({
        path: "../wit/deps/operator-0.1.0",
        world: "reducer",
        pub_export_macro: true,
        export_macro_name: "__export_reducer_world",
        default_bindings_module: "weir::__private::reducer_bindings",
        with: {
            "weir:operator/types@0.1.0": crate::guest::bindings::weir::operator::types,
            "weir:operator/host@0.1.0": crate::guest::bindings::weir::operator::host,
        },
    });
}

/// Bindings of the `state-updater` world.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod state_bindings {
    wit_bindgen::generate!({
        path: "../wit/deps/operator-0.1.0",
        world: "state-updater",
        pub_export_macro: true,
        export_macro_name: "__export_state_updater_world",
        default_bindings_module: "weir::__private::state_bindings",
        with: {
            "weir:operator/types@0.1.0": crate::guest::bindings::weir::operator::types,
            "weir:operator/host@0.1.0": crate::guest::bindings::weir::operator::host,
        },
    });
}

/// Bindings of the `source` world (0.2.0); the `connector` and `http` interfaces live here.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod source_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "source",
        pub_export_macro: true,
        export_macro_name: "__export_source_world",
        default_bindings_module: "weir::__private::source_bindings",
        with: {
            "weir:operator/types@0.1.0": crate::guest::bindings::weir::operator::types,
            "weir:operator/host@0.1.0": crate::guest::bindings::weir::operator::host,
        },
    });
}

/// Bindings of the `sink` world (0.2.0).
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod sink_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sink",
        pub_export_macro: true,
        export_macro_name: "__export_sink_world",
        default_bindings_module: "weir::__private::sink_bindings",
        with: {
            "weir:operator/types@0.1.0": crate::guest::bindings::weir::operator::types,
            "weir:operator/host@0.1.0": crate::guest::bindings::weir::operator::host,
            "weir:operator/connector@0.2.0": crate::guest::source_bindings::weir::operator0_2_0::connector,
            "weir:operator/http@0.2.0": crate::guest::source_bindings::weir::operator0_2_0::http,
        },
    });
}

use bindings::weir::operator::types as wit;

use crate::operator::{Output, Plugin, TransformKind, set_params};

pub use reducer::{combine, inverse};
pub use state::update;
pub use transform::process;

/// Builds the WIT descriptor of plugin `P`.
pub fn describe<P: Plugin>() -> wit::Descriptor {
    wit::Descriptor {
        name: P::NAME.to_string(),
        version: P::VERSION.to_string(),
        kind: match P::KIND {
            TransformKind::Map => wit::TransformKind::Map,
            TransformKind::FlatMap => wit::TransformKind::FlatMap,
            TransformKind::Filter => wit::TransformKind::Filter,
            TransformKind::FilterMap => wit::TransformKind::FilterMap,
            TransformKind::Batch => wit::TransformKind::Batch,
            TransformKind::Reduce => wit::TransformKind::Reduce,
            TransformKind::ReduceInvertible => wit::TransformKind::ReduceInvertible,
            TransformKind::UpdateState => wit::TransformKind::UpdateState,
            TransformKind::MapWithState => wit::TransformKind::MapWithState,
            TransformKind::Source | TransformKind::Sink => unreachable!("a connector describes itself with `about`"),
        },
        params: P::PARAMS.iter().map(|p| p.to_string()).collect(),
    }
}

/// Validates and stores the job parameters of plugin `P`.
pub fn init<P: Plugin>(params: Vec<wit::Param>) -> Result<(), String> {
    set_params::<P>(params.into_iter().map(|p| (p.name, p.value)).collect())
}

/// The WIT errors of refused records and a fatal error.
fn errors(rejected: Vec<(u32, String)>, fatal: Option<String>) -> Vec<wit::Error> {
    let mut errors: Vec<wit::Error> =
        rejected.into_iter().map(|(index, reason)| wit::Error::BadRecord(wit::BadRecord { index, reason })).collect();
    errors.extend(fatal.map(wit::Error::Fatal));
    errors
}

/// An [`Output`] as the WIT `output`.
fn to_wit(out: Output) -> wit::Output {
    wit::Output { records: crate::move_columns!(out.records => wit::Batch), errors: errors(out.rejected, out.fatal) }
}

/// Sends a line to the host log.
#[cfg(target_arch = "wasm32")]
pub fn log(level: wit::LogLevel, message: &str) {
    bindings::weir::operator::host::log(level, message);
}
