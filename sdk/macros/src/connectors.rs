//! The macros of plugin sources and sinks: `source` (reads from an offset) and `sink` (writes a batch
//! at a batch time).

use proc_macro::TokenStream;
use quote::quote;
use syn::{FnArg, ItemFn, Type};

use crate::stateful::{assemble, parts, result_of};

/// The type of the function's first argument: a source's offset.
fn offset_type(func: &ItemFn) -> syn::Result<Type> {
    match (func.sig.inputs.first(), func.sig.inputs.len()) {
        (Some(FnArg::Typed(t)), 3) => Ok((*t.ty).clone()),
        _ => {
            let msg = "a source function takes `(from: O, max: usize, until: Option<O>)`, O its offset type";
            Err(syn::Error::new_spanned(&func.sig, msg))
        }
    }
}

pub fn source(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (args, func, op) = match parts(attr, item) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error().into(),
    };
    let offset = match offset_type(&func) {
        Ok(t) => t,
        Err(e) => return e.to_compile_error().into(),
    };
    let f = &func.sig.ident;
    let read = result_of(&func, quote! { #f(::std::clone::Clone::clone(from), max, until.cloned()) });
    let commit = args.commit.as_ref().map(|c| {
        quote! {
            fn commit(through: &#offset) -> ::std::result::Result<(), ::std::string::String> {
                #c(::std::clone::Clone::clone(through)).map_err(|e| ::std::string::ToString::to_string(&e))
            }
        }
    });
    let body = quote! {
        impl ::weir::Source for #op {
            type Offset = #offset;
            fn read(
                from: &#offset,
                max: usize,
                until: ::std::option::Option<&#offset>,
            ) -> ::std::result::Result<::weir::Read<#offset>, ::std::string::String> {
                #read
            }
            #commit
        }
    };
    assemble(&func, &op, &args, quote!(Source), body, quote!(::weir::__export_source))
}

pub fn sink(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (args, func, op) = match parts(attr, item) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error().into(),
    };
    if func.sig.inputs.len() != 2 {
        let msg = "a sink function takes `(time: i64, records: Vec<weir::Record<'_>>)`";
        return syn::Error::new_spanned(&func.sig, msg).to_compile_error().into();
    }
    let f = &func.sig.ident;
    let write = result_of(&func, quote! { #f(time, records) });
    let holds = args.holds_through.as_ref().map(|h| {
        quote! {
            fn holds_through() -> ::std::option::Option<i64> {
                #h()
            }
        }
    });
    let body = quote! {
        impl ::weir::Sink for #op {
            fn write(
                time: i64,
                records: ::std::vec::Vec<::weir::Record<'_>>,
            ) -> ::std::result::Result<(), ::std::string::String> {
                #write
            }
            #holds
        }
    };
    assemble(&func, &op, &args, quote!(Sink), body, quote!(::weir::__export_sink))
}
