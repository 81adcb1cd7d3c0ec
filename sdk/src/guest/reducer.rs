//! Guest glue of the `reducer` world: `combine` and `inverse` over all groups of a batch in one call.

use super::bindings::weir::operator::types as wit;
use crate::operator::Output;
use crate::packed::Batch;
use crate::reducer::{Groups, Reducer};

fn run(input: wit::Groups, f: fn(&Groups, &mut Output)) -> wit::Output {
    let groups = Groups { values: crate::move_columns!(input.values => Batch), bounds: input.bounds };
    let mut out = Output { records: Batch::with_capacity(groups.len(), groups.len() * 8), ..Output::default() };
    match groups.validate() {
        Ok(()) => f(&groups, &mut out),
        Err(e) => out.fail(e),
    }
    super::to_wit(out)
}

/// Runs reducer `R`'s combine.
pub fn combine<R: Reducer>(input: wit::Groups) -> wit::Output {
    run(input, R::combine)
}

/// Runs reducer `R`'s inverse.
pub fn inverse<R: Reducer>(input: wit::Groups) -> wit::Output {
    run(input, R::inverse)
}

/// Exports reducer type `$op` as the component's `reducer` world. Expanded by `#[weir::reduce]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_reducer {
    ($op:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::bindings::weir::operator::types as __wit;
            struct __WeirGuest;
            impl $crate::__private::reducer_bindings::Guest for __WeirGuest {
                fn describe() -> __wit::Descriptor {
                    $crate::__private::describe::<$op>()
                }
                fn init(params: ::std::vec::Vec<__wit::Param>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__private::init::<$op>(params)
                }
                fn combine(input: __wit::Groups) -> __wit::Output {
                    $crate::__private::combine::<$op>(input)
                }
                fn inverse(input: __wit::Groups) -> __wit::Output {
                    $crate::__private::inverse::<$op>(input)
                }
            }
            $crate::__private::reducer_bindings::__export_reducer_world!(
                __WeirGuest with_types_in $crate::__private::reducer_bindings
            );
        };
    };
}
