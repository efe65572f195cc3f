//! `gencert CERT KEY`: writes a fresh self-signed certificate for localhost/127.0.0.1 and
//! its private key (PEM), for the wss echo case.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: gencert CERT KEY");
        std::process::exit(2);
    }
    if let Err(e) = tern_bench::tls::write_self_signed(&args[1], &args[2]) {
        eprintln!("gencert: {e}");
        std::process::exit(1);
    }
}
