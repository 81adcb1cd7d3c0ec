//! The wit-bindgen guest bindings and the glue the attribute macros expand to. Not for authors.

#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "transform",
        pub_export_macro: true,
        export_macro_name: "__export_transform_world",
        default_bindings_module: "weir::__private::bindings",
    });
}

use std::cell::Cell;

use bindings::weir::operator::types as wit;

use crate::operator::{Operator, Output, TransformKind, set_params};
use crate::packed::Batch;

/// Builds the WIT descriptor of operator `O`.
pub fn describe<O: Operator>() -> wit::Descriptor {
    wit::Descriptor {
        name: O::NAME.to_string(),
        version: O::VERSION.to_string(),
        kind: match O::KIND {
            TransformKind::Map => wit::TransformKind::Map,
            TransformKind::FlatMap => wit::TransformKind::FlatMap,
            TransformKind::Filter => wit::TransformKind::Filter,
            TransformKind::FilterMap => wit::TransformKind::FilterMap,
            TransformKind::Batch => wit::TransformKind::Batch,
        },
        params: O::PARAMS.iter().map(|p| p.to_string()).collect(),
    }
}

/// Validates and stores the job parameters of operator `O`.
pub fn init<O: Operator>(params: Vec<wit::Param>) -> Result<(), String> {
    set_params::<O>(params.into_iter().map(|p| (p.name, p.value)).collect())
}

thread_local! {
    // Output records and value bytes per input record and byte of the last batch, in sixteenths: the
    // next batch's buffers are sized from it, so they are not regrown (and copied) as they fill.
    static SHAPE: Cell<(usize, usize)> = const { Cell::new((32, 16)) };
}

/// Runs operator `O` over one WIT batch: the columns move into a packed batch without copying.
pub fn process<O: Operator>(_batch_time: i64, input: wit::Batch) -> wit::Output {
    let input = crate::move_columns!(input => Batch);
    let (per_record, per_byte) = SHAPE.get();
    let capacity = Batch::with_capacity(input.len() * per_record / 16 + 16, input.values.len() * per_byte / 16 + 64);
    let mut out = Output { records: capacity, ..Output::default() };
    if let Err(e) = input.validate() {
        out.fail(e);
    } else {
        O::process(&input, &mut out);
    }
    if !input.is_empty() {
        let ratio = |out: usize, input: usize| out * 16 / input.max(1) + 1;
        SHAPE.set((ratio(out.records.len(), input.len()), ratio(out.records.values.len(), input.values.len())));
    }
    let mut errors: Vec<wit::Error> = out
        .rejected
        .into_iter()
        .map(|(index, reason)| wit::Error::BadRecord(wit::BadRecord { index, reason }))
        .collect();
    errors.extend(out.fatal.map(wit::Error::Fatal));
    wit::Output { records: crate::move_columns!(out.records => wit::Batch), errors }
}

/// Sends a line to the host log.
#[cfg(target_arch = "wasm32")]
pub fn log(level: wit::LogLevel, message: &str) {
    bindings::log(level, message);
}

/// Exports operator type `$op` as the component's `transform` world. Expanded by the attribute macros.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_transform {
    ($op:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::bindings::weir::operator::types as __wit;
            struct __WeirGuest;
            impl $crate::__private::bindings::Guest for __WeirGuest {
                fn describe() -> __wit::Descriptor {
                    $crate::__private::describe::<$op>()
                }
                fn init(params: ::std::vec::Vec<__wit::Param>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$op>(params)
                }
                fn process(batch_time: i64, input: __wit::Batch) -> __wit::Output {
                    $crate::__private::process::<$op>(batch_time, input)
                }
            }
            $crate::__private::bindings::__export_transform_world!(__WeirGuest with_types_in $crate::__private::bindings);
        };
    };
}
