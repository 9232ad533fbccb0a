module kws.example/labelzone

// 1.24 brought //go:wasmexport for GOOS=wasip1; the toolchain line pins the
// Go the example was built and tested with.
go 1.24

toolchain go1.26.8
