//! Host bindings of the plugin worlds, generated from `wit/`. The `types` and `host` interfaces are
//! generated once (with `transform`) and shared, so one linker serves every world.
//!
//! 0.1.0's worlds come from its frozen copy in `wit/deps/`: a resolve holding two versions of the
//! package names its modules by version (`operator0_1_0`), and one version keeps them `operator`.

/// The `transform` world, with the shared interfaces.
pub mod transform {
    wasmtime::component::bindgen!({ path: "../wit/deps/operator-0.1.0", world: "transform" });
}

/// The `reducer` world.
pub mod reducer {
    wasmtime::component::bindgen!({
        path: "../wit/deps/operator-0.1.0",
        world: "reducer",
        with: {
            "weir:operator/types": super::transform::weir::operator::types,
            "weir:operator/host": super::transform::weir::operator::host,
        },
    });
}

/// The `state-updater` world.
pub mod state {
    wasmtime::component::bindgen!({
        path: "../wit/deps/operator-0.1.0",
        world: "state-updater",
        with: {
            "weir:operator/types": super::transform::weir::operator::types,
            "weir:operator/host": super::transform::weir::operator::host,
        },
    });
}

/// The `source` world (0.2.0), with the `connector` and `http` interfaces.
pub mod source {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "source",
        with: {
            "weir:operator/types@0.1.0": super::transform::weir::operator::types,
            "weir:operator/host@0.1.0": super::transform::weir::operator::host,
        },
    });
}

/// The `sink` world (0.2.0).
pub mod sink {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "sink",
        with: {
            "weir:operator/types@0.1.0": super::transform::weir::operator::types,
            "weir:operator/host@0.1.0": super::transform::weir::operator::host,
            "weir:operator/connector@0.2.0": super::source::weir::operator0_2_0::connector,
            "weir:operator/http@0.2.0": super::source::weir::operator0_2_0::http,
        },
    });
}

pub use source::weir::operator0_2_0::{connector, http as http_wit};
pub use transform::weir::operator::{host, types};

/// The name of a plugin kind, as the WIT spells it.
///
/// ```
/// use weir::operator::wasm::bindings::{kind_name, types::TransformKind};
/// assert_eq!(kind_name(TransformKind::ReduceInvertible), "reduce-invertible");
/// ```
pub fn kind_name(kind: types::TransformKind) -> &'static str {
    use types::TransformKind as K;
    match kind {
        K::Map => "map",
        K::FlatMap => "flat-map",
        K::Filter => "filter",
        K::FilterMap => "filter-map",
        K::Batch => "batch",
        K::Reduce => "reduce",
        K::ReduceInvertible => "reduce-invertible",
        K::UpdateState => "update-state",
        K::MapWithState => "map-with-state",
    }
}

/// Which world a component implements, with its pre-instantiated exports.
#[derive(Clone)]
pub enum WorldPre<T: 'static> {
    /// A `transform`.
    Transform(transform::TransformPre<T>),
    /// A `reducer`.
    Reducer(reducer::ReducerPre<T>),
    /// A `state-updater`.
    State(state::StateUpdaterPre<T>),
    /// A `source` (0.2.0).
    Source(source::SourcePre<T>),
    /// A `sink` (0.2.0).
    Sink(sink::SinkPre<T>),
}

impl<T: 'static> WorldPre<T> {
    /// The world's name, as written in the WIT.
    pub fn name(&self) -> &'static str {
        match self {
            WorldPre::Transform(_) => "transform",
            WorldPre::Reducer(_) => "reducer",
            WorldPre::State(_) => "state-updater",
            WorldPre::Source(_) => "source",
            WorldPre::Sink(_) => "sink",
        }
    }
}
