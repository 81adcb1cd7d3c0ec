//! Host bindings of the three plugin worlds, generated from `wit/`. The `types` and `host` interfaces are
//! generated once (with `transform`) and shared, so one linker serves every world.

/// The `transform` world, with the shared interfaces.
pub mod transform {
    wasmtime::component::bindgen!({ path: "../wit", world: "transform" });
}

/// The `reducer` world.
pub mod reducer {
    wasmtime::component::bindgen!({
        path: "../wit",
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
        path: "../wit",
        world: "state-updater",
        with: {
            "weir:operator/types": super::transform::weir::operator::types,
            "weir:operator/host": super::transform::weir::operator::host,
        },
    });
}

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
}

impl<T: 'static> WorldPre<T> {
    /// The world's name, as written in the WIT.
    pub fn name(&self) -> &'static str {
        match self {
            WorldPre::Transform(_) => "transform",
            WorldPre::Reducer(_) => "reducer",
            WorldPre::State(_) => "state-updater",
        }
    }
}
