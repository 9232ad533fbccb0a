module kws.plugin/{{package}}

// 1.24 brought //go:wasmexport for GOOS=wasip1; the toolchain line pins the
// Go this folder is built with (Go fetches it when the installed one is
// older).
go 1.24

toolchain go1.26.8
