//! The macros whose functions see more than one record: `batch` (a whole batch), `reduce` (a key's
//! values), `update_state` and `map_with_state` (a key's values and state).

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::{Ident, ItemFn};

use crate::{Args, parse_args, pascal, plugin_impl, returns_result};

/// Parses the attribute and function, and names the unit struct.
pub(crate) fn parts(attr: TokenStream, item: TokenStream) -> syn::Result<(Args, ItemFn, Ident)> {
    let args = parse_args(attr)?;
    let func: ItemFn = syn::parse(item)?;
    let op = Ident::new(&pascal(&func.sig.ident.to_string()), Span::call_site());
    Ok((args, func, op))
}

/// The function's result as `Result<_, String>`: `call?`-ready for fallible functions, `Ok` otherwise.
pub(crate) fn result_of(func: &ItemFn, call: Tokens) -> Tokens {
    if returns_result(func) {
        quote! { (#call).map_err(|e| ::std::string::ToString::to_string(&e)) }
    } else {
        quote! { ::std::result::Result::<_, ::std::string::String>::Ok(#call) }
    }
}

/// Wraps the generated items with the function, its struct, its `Plugin` impl and its export.
pub(crate) fn assemble(
    func: &ItemFn,
    op: &Ident,
    args: &Args,
    kind: Tokens,
    body: Tokens,
    export: Tokens,
) -> TokenStream {
    let vis = &func.vis;
    let plugin = plugin_impl(op, args, kind);
    let doc = format!("The Weir plugin built from [`{}`].", func.sig.ident);
    quote! {
        #func

        #[doc = #doc]
        #vis struct #op;

        #plugin

        #body

        #export!(#op);
    }
    .into()
}

pub fn batch(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (args, func, op) = match parts(attr, item) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error().into(),
    };
    let f = &func.sig.ident;
    let result = result_of(&func, quote! { #f(records) });
    let body = quote! {
        impl ::weir::Operator for #op {
            fn process(input: &::weir::packed::Batch, out: &mut ::weir::Output) {
                let records: ::std::vec::Vec<::weir::Record<'_>> = input.iter().map(::weir::Record::from_ref).collect();
                match #result {
                    ::std::result::Result::Ok(produced) => {
                        for r in produced {
                            r.push_to(&mut out.records);
                        }
                    }
                    ::std::result::Result::Err(e) => out.fail(e),
                }
            }
        }
    };
    assemble(&func, &op, &args, quote!(Batch), body, quote!(::weir::__export_transform))
}

pub fn reduce(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (args, func, op) = match parts(attr, item) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error().into(),
    };
    let f = &func.sig.ident;
    let (kind, inverse) = match &args.inverse {
        Some(inv) => (
            quote!(ReduceInvertible),
            quote! {
                fn inverse(input: &::weir::Groups, out: &mut ::weir::Output) {
                    ::weir::reducer::fold(input, out, #inv)
                }
            },
        ),
        None => (quote!(Reduce), quote!()),
    };
    let body = quote! {
        impl ::weir::Reducer for #op {
            fn combine(input: &::weir::Groups, out: &mut ::weir::Output) {
                ::weir::reducer::fold(input, out, #f)
            }
            #inverse
        }
    };
    assemble(&func, &op, &args, kind, body, quote!(::weir::__export_reducer))
}

pub fn update_state(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (args, func, op) = match parts(attr, item) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error().into(),
    };
    let f = &func.sig.ident;
    let (key_param, call) = match func.sig.inputs.len() {
        2 => (quote!(_key: &[u8]), quote! { #f(values, state) }),
        3 => (quote!(key), quote! { #f(key, values, state) }),
        _ => {
            let msg = "expected `fn(values, state)` or `fn(key, values, state)`";
            return syn::Error::new_spanned(&func.sig, msg).to_compile_error().into();
        }
    };
    let result = result_of(&func, call);
    let body = quote! {
        impl ::weir::StateUpdater for #op {
            fn update(batch_time: i64, input: &::weir::StateInput, out: &mut ::weir::StateOutput) {
                ::weir::state::each_key(input, batch_time, out, |#key_param, values, state, _timing_out, _emitted| {
                    #result
                })
            }
        }
    };
    assemble(&func, &op, &args, quote!(UpdateState), body, quote!(::weir::__export_state_updater))
}

pub fn map_with_state(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (args, func, op) = match parts(attr, item) {
        Ok(p) => p,
        Err(e) => return e.to_compile_error().into(),
    };
    if func.sig.inputs.len() != 3 {
        let msg = "expected `fn(key, values, state: &mut weir::State<S>)`";
        return syn::Error::new_spanned(&func.sig, msg).to_compile_error().into();
    }
    let f = &func.sig.ident;
    let result = result_of(&func, quote! { #f(key, values, &mut state) });
    let body = quote! {
        impl ::weir::StateUpdater for #op {
            fn update(batch_time: i64, input: &::weir::StateInput, out: &mut ::weir::StateOutput) {
                ::weir::state::each_key(input, batch_time, out, |key, values, old, timing_out, emitted| {
                    let mut state = ::weir::State::new(old, timing_out);
                    #[allow(for_loops_over_fallibles)]
                    for r in #result? {
                        ::weir::state::emit(emitted, &r, batch_time);
                    }
                    ::std::result::Result::Ok(state.into_inner())
                })
            }
        }
    };
    assemble(&func, &op, &args, quote!(MapWithState), body, quote!(::weir::__export_state_updater))
}
