//! Attribute macros behind `#[weir::map]`, `#[weir::flat_map]`, `#[weir::filter]`, `#[weir::filter_map]`,
//! `#[weir::batch]`, `#[weir::reduce]`, `#[weir::update_state]`, `#[weir::map_with_state]`, and the
//! connector attributes `#[weir::source]` and `#[weir::sink]`.
//!
//! Each keeps the author's function as it is and adds a unit struct (the function's name in PascalCase)
//! implementing `weir::Plugin` and the world's trait — one loop over the whole batch — plus, on wasm32,
//! the component export. Authors never see wit-bindgen.

mod connectors;
mod stateful;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::quote;
use syn::{Ident, ItemFn, LitStr, ReturnType, Type, parse_macro_input};

#[derive(Clone, Copy)]
enum Kind {
    Map,
    FlatMap,
    Filter,
    FilterMap,
}

pub(crate) struct Args {
    name: Option<LitStr>,
    params: Vec<LitStr>,
    inverse: Option<Ident>,
    init: Option<syn::Path>,
    commit: Option<syn::Path>,
    holds_through: Option<syn::Path>,
}

pub(crate) fn parse_args(attr: TokenStream) -> syn::Result<Args> {
    let mut args =
        Args { name: None, params: Vec::new(), inverse: None, init: None, commit: None, holds_through: None };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            args.name = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("params") {
            let list: syn::ExprArray = meta.value()?.parse()?;
            for e in list.elems {
                match e {
                    syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => args.params.push(s),
                    other => return Err(syn::Error::new_spanned(other, "parameter names must be string literals")),
                }
            }
            Ok(())
        } else if meta.path.is_ident("inverse") {
            args.inverse = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("init") {
            args.init = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("commit") {
            args.commit = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("holds_through") {
            args.holds_through = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "expected `name = \"...\"`, `params = [\"...\"]`, `init = function`, `inverse = function`, \
                 `commit = function` or `holds_through = function`",
            ))
        }
    });
    syn::parse::Parser::parse(parser, attr)?;
    Ok(args)
}

/// True when the function's declared return type is a `Result`, i.e. it can refuse a record.
pub(crate) fn returns_result(f: &ItemFn) -> bool {
    match &f.sig.output {
        ReturnType::Type(_, ty) => match ty.as_ref() {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

/// True when the function takes `&Record`, so what it returns may borrow from the record.
fn takes_ref(f: &ItemFn) -> bool {
    matches!(f.sig.inputs.first(), Some(syn::FnArg::Typed(t)) if matches!(t.ty.as_ref(), Type::Reference(_)))
}

pub(crate) fn pascal(name: &str) -> String {
    name.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
        })
        .collect()
}

/// The per-record body run inside the generated batch loop; `record`, `index` and `input` are in scope.
fn per_record(kind: Kind, f: &Ident, fallible: bool, by_ref: bool) -> Tokens {
    let emit = |value: Tokens| match kind {
        Kind::Map => quote! { out.push(&#value, time); },
        Kind::FlatMap => quote! { for r in #value { out.push(&r, time); } },
        Kind::Filter => quote! { if #value { out.keep(input, index); } },
        Kind::FilterMap => quote! { if let ::std::option::Option::Some(r) = #value { out.push(&r, time); } },
    };
    let call = if by_ref || matches!(kind, Kind::Filter) {
        quote! { #f(&record) }
    } else {
        quote! { #f(record) }
    };
    if fallible {
        let ok = emit(quote! { v });
        quote! {
            match #call {
                ::std::result::Result::Ok(v) => { #ok }
                ::std::result::Result::Err(e) => out.reject(index, e),
            }
        }
    } else {
        emit(call)
    }
}

fn expand(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = match parse_args(attr) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    let func = parse_macro_input!(item as ItemFn);
    let f = &func.sig.ident;
    let vis = &func.vis;
    let op = Ident::new(&pascal(&f.to_string()), Span::call_site());
    let body = per_record(kind, f, returns_result(&func), takes_ref(&func));
    let kind_tokens = match kind {
        Kind::Map => quote!(Map),
        Kind::FlatMap => quote!(FlatMap),
        Kind::Filter => quote!(Filter),
        Kind::FilterMap => quote!(FilterMap),
    };
    let plugin = plugin_impl(&op, &args, kind_tokens);
    let doc = format!("The Weir operator built from [`{f}`].");
    quote! {
        #func

        #[doc = #doc]
        #vis struct #op;

        #plugin

        impl ::weir::Operator for #op {
            fn process(input: &::weir::packed::Batch, out: &mut ::weir::Output) {
                for index in 0..input.len() {
                    if index == ::weir::Output::SAMPLE {
                        out.size_for_rest(input, index);
                    }
                    let record = ::weir::Record::from_ref(input.get(index));
                    let time = record.time;
                    #body
                }
            }
        }

        ::weir::__export_transform!(#op);
    }
    .into()
}

/// The `weir::Plugin` impl of unit struct `op`: name, version, kind and parameters.
pub(crate) fn plugin_impl(op: &Ident, args: &Args, kind: Tokens) -> Tokens {
    let name = match &args.name {
        Some(n) => quote!(#n),
        None => quote!(env!("CARGO_PKG_NAME")),
    };
    let params = &args.params;
    let check = args.init.as_ref().map(|f| {
        quote! {
            fn check_params() -> ::core::result::Result<(), ::std::string::String> {
                #f()
            }
        }
    });
    quote! {
        impl ::weir::Plugin for #op {
            const NAME: &'static str = #name;
            const VERSION: &'static str = env!("CARGO_PKG_VERSION");
            const KIND: ::weir::TransformKind = ::weir::TransformKind::#kind;
            const PARAMS: &'static [&'static str] = &[#(#params),*];
            #check
        }
    }
}

/// Turns `fn(Record) -> Record` (or `-> Result<Record, E>`) into a map operator.
#[proc_macro_attribute]
pub fn map(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Map, attr, item)
}

/// Turns `fn(Record) -> impl IntoIterator<Item = Record>` (or a `Result` of one) into a flat-map operator.
#[proc_macro_attribute]
pub fn flat_map(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::FlatMap, attr, item)
}

/// Turns `fn(&Record) -> bool` (or `-> Result<bool, E>`) into a filter operator.
#[proc_macro_attribute]
pub fn filter(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Filter, attr, item)
}

/// Turns `fn(Record) -> Option<Record>` (or `-> Result<Option<Record>, E>`) into a filter-map operator.
#[proc_macro_attribute]
pub fn filter_map(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::FilterMap, attr, item)
}

/// Turns `fn(Vec<Record>) -> impl IntoIterator<Item = Record>` (or a `Result` of one) into a transform of
/// the whole batch, Spark's `transform`. An `Err` fails the batch.
#[proc_macro_attribute]
pub fn batch(attr: TokenStream, item: TokenStream) -> TokenStream {
    stateful::batch(attr, item)
}

/// Turns `fn(T, T) -> T` (or `-> Result<T, E>`), `T` any `weir::Datum`, into a reducer; `inverse = f`
/// names the function that takes a value out again, for incremental windows.
#[proc_macro_attribute]
pub fn reduce(attr: TokenStream, item: TokenStream) -> TokenStream {
    stateful::reduce(attr, item)
}

/// Turns `fn(values: Vec<V>, state: Option<S>) -> Option<S>` (optionally with a leading `key: &str` or
/// `&[u8]`, and optionally returning a `Result`) into an `update_state_by_key` updater: `None` removes the key.
#[proc_macro_attribute]
pub fn update_state(attr: TokenStream, item: TokenStream) -> TokenStream {
    stateful::update_state(attr, item)
}

/// Turns `fn(key: K, values: Vec<V>, state: &mut weir::State<S>) -> impl IntoIterator<Item = Record>` (or a
/// `Result` of one) into a `map_with_state` function, called for keys with data and once for a key timing out.
#[proc_macro_attribute]
pub fn map_with_state(attr: TokenStream, item: TokenStream) -> TokenStream {
    stateful::map_with_state(attr, item)
}

/// Turns `fn(from: O, max: usize, until: Option<O>) -> Result<weir::Read<O>, E>` into a source plugin,
/// `O` its offset (any serde type with a deterministic encoding). The same `from` must always give the
/// same records; with `until`, stop exactly there. `commit = f` names `fn(O) -> Result<(), E>`, called
/// once a checkpoint holding that offset has committed.
#[proc_macro_attribute]
pub fn source(attr: TokenStream, item: TokenStream) -> TokenStream {
    connectors::source(attr, item)
}

/// Turns `fn(time: i64, records: Vec<weir::Record<'_>>) -> Result<(), E>` into a sink plugin, which must
/// be idempotent by `time`; `holds_through = f` names `fn() -> Option<i64>`, the newest batch the target
/// already holds.
#[proc_macro_attribute]
pub fn sink(attr: TokenStream, item: TokenStream) -> TokenStream {
    connectors::sink(attr, item)
}
