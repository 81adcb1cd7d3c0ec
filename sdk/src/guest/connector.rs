//! Guest glue of the `source` and `sink` worlds: offsets kept as the host's text between calls, and
//! records moved into packed batches.

use std::cell::RefCell;

use super::bindings::weir::operator::types as wit;
use super::source_bindings::weir::operator0_2_0::connector as conn;
use crate::connector::{Sink, Source, offset_text, parse_offset};
use crate::operator::{Plugin, set_params};
use crate::packed::Batch;
use crate::record::Record;

thread_local! {
    // Where the source is, as the text the host stores: one instance runs on one thread.
    static AT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// What plugin `P` says about itself.
pub fn about<P: Plugin>() -> conn::About {
    conn::About {
        name: P::NAME.to_string(),
        version: P::VERSION.to_string(),
        params: P::PARAMS.iter().map(|p| p.to_string()).collect(),
    }
}

/// Stores and checks the job's parameters for `P`.
pub fn init<P: Plugin>(params: Vec<wit::Param>) -> Result<(), String> {
    set_params::<P>(params.into_iter().map(|p| (p.name, p.value)).collect())
}

/// Moves source `S` to `at` (none: its default offset, the start).
pub fn seek<S: Source>(at: Option<String>) -> Result<(), String> {
    let text = match at {
        Some(t) => {
            parse_offset::<S::Offset>(&t)?;
            t
        }
        None => offset_text(&S::Offset::default())?,
    };
    AT.with_borrow_mut(|a| *a = text);
    Ok(())
}

/// Reads on from where source `S` is.
pub fn poll<S: Source>(max: u32, until: Option<String>) -> Result<conn::Polled, String> {
    if AT.with_borrow(String::is_empty) {
        seek::<S>(None)?;
    }
    let from: S::Offset = AT.with_borrow(|a| parse_offset(a))?;
    let until_value = until.as_deref().map(parse_offset::<S::Offset>).transpose()?;
    let read = S::read(&from, max as usize, until_value.as_ref())?;
    if read.records.len() > max as usize {
        return Err(format!("read {} records where at most {max} were asked", read.records.len()));
    }
    let mut batch = Batch::with_capacity(read.records.len(), 32 * read.records.len());
    read.records.iter().for_each(|r| r.push_to(&mut batch));
    // The host matches offsets byte for byte: hand back its own text when the value is the same.
    let offset = match (until, until_value) {
        (Some(text), Some(u)) if u == read.next => text,
        _ => offset_text(&read.next)?,
    };
    AT.with_borrow_mut(|a| a.clone_from(&offset));
    Ok(conn::Polled { records: crate::move_columns!(batch => wit::Batch), offset, finished: read.finished })
}

/// Tells source `S` a checkpoint holding `through` committed.
pub fn commit<S: Source>(through: String) -> Result<(), String> {
    S::commit(&parse_offset(&through)?)
}

/// Writes one batch with sink `K`.
pub fn write<K: Sink>(time: i64, records: wit::Batch) -> Result<(), String> {
    let batch = crate::move_columns!(records => Batch);
    batch.validate().map_err(|e| e.to_string())?;
    K::write(time, batch.iter().map(Record::from_ref).collect())
}

/// `describe` and `init` of connector type `$op`, the same in both worlds.
#[doc(hidden)]
#[macro_export]
macro_rules! __connector_about {
    ($op:ty) => {
        fn describe() -> $crate::__private::source_bindings::weir::operator0_2_0::connector::About {
            $crate::__private::connector::about::<$op>()
        }
        fn init(
            params: ::std::vec::Vec<$crate::__private::bindings::weir::operator::types::Param>,
        ) -> ::std::result::Result<(), ::std::string::String> {
            $crate::__private::connector::init::<$op>(params)
        }
    };
}

/// Exports source type `$op` as the component's `source` world. Expanded by `#[weir::source]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_source {
    ($op:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use ::std::{option::Option, result::Result, string::String};
            use $crate::__private::source_bindings::weir::operator0_2_0::connector as __conn;
            struct __WeirGuest;
            impl $crate::__private::source_bindings::Guest for __WeirGuest {
                $crate::__connector_about!($op);
                fn seek(at: Option<String>) -> Result<(), String> {
                    $crate::__private::connector::seek::<$op>(at)
                }
                fn poll_records(max: u32, until: Option<String>) -> Result<__conn::Polled, String> {
                    $crate::__private::connector::poll::<$op>(max, until)
                }
                fn commit(through: String) -> Result<(), String> {
                    $crate::__private::connector::commit::<$op>(through)
                }
            }
            $crate::__private::source_bindings::__export_source_world!(
                __WeirGuest with_types_in $crate::__private::source_bindings
            );
        };
    };
}

/// Exports sink type `$op` as the component's `sink` world. Expanded by `#[weir::sink]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_sink {
    ($op:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use ::std::{option::Option, result::Result, string::String};
            use $crate::__private::bindings::weir::operator::types as __wit;
            struct __WeirGuest;
            impl $crate::__private::sink_bindings::Guest for __WeirGuest {
                $crate::__connector_about!($op);
                fn holds_through() -> Option<i64> {
                    <$op as $crate::Sink>::holds_through()
                }
                fn write_batch(batch_time: i64, records: __wit::Batch) -> Result<(), String> {
                    $crate::__private::connector::write::<$op>(batch_time, records)
                }
            }
            $crate::__private::sink_bindings::__export_sink_world!(
                __WeirGuest with_types_in $crate::__private::sink_bindings
            );
        };
    };
}
