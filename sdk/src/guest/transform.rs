//! Guest glue of the `transform` world: one call per batch into [`Operator::process`].

use std::cell::Cell;

use super::bindings::weir::operator::types as wit;
use crate::operator::{Operator, Output};
use crate::packed::Batch;

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
    super::to_wit(out)
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
