//! Guest glue of the `state-updater` world: every key of a batch in one `update` call.

use super::bindings::weir::operator::types as wit;
use crate::packed::Batch;
use crate::reducer::Groups;
use crate::state::{StateInput, StateOutput, StateUpdater};

/// Runs state updater `U` over one batch of keys.
pub fn update<U: StateUpdater>(batch_time: i64, input: wit::StateInput) -> wit::StateOutput {
    let input = StateInput {
        values: Groups { values: crate::move_columns!(input.values.values => Batch), bounds: input.values.bounds },
        states: crate::move_columns!(input.states => Batch),
        flags: input.status,
    };
    let mut out = StateOutput::default();
    match input.validate() {
        Ok(()) => U::update(batch_time, &input, &mut out),
        Err(e) => out.fatal = Some(e),
    }
    wit::StateOutput {
        states: crate::move_columns!(out.states => wit::Batch),
        keep: out.keep,
        emitted: crate::move_columns!(out.emitted => wit::Batch),
        errors: super::errors(out.rejected, out.fatal),
    }
}

/// Exports state updater type `$op` as the component's `state-updater` world. Expanded by
/// `#[weir::update_state]` and `#[weir::map_with_state]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_state_updater {
    ($op:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::bindings::weir::operator::types as __wit;
            struct __WeirGuest;
            impl $crate::__private::state_bindings::Guest for __WeirGuest {
                fn describe() -> __wit::Descriptor {
                    $crate::__private::describe::<$op>()
                }
                fn init(params: ::std::vec::Vec<__wit::Param>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$op>(params)
                }
                fn update(batch_time: i64, input: __wit::StateInput) -> __wit::StateOutput {
                    $crate::__private::update::<$op>(batch_time, input)
                }
            }
            $crate::__private::state_bindings::__export_state_updater_world!(
                __WeirGuest with_types_in $crate::__private::state_bindings
            );
        };
    };
}
