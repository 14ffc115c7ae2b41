fn main() {
    println!("passeur {}", env!("CARGO_PKG_VERSION"));
}
