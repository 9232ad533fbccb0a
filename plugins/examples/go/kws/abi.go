package kws

// The canonical ABI of the kws:scheduler/plugin world (0.3.0), by hand: big Go's
// GOARCH=wasm has 64-bit ints and pointers, so Go values cannot mirror the
// 32-bit layouts and no bindings generator targets it. Every export below
// takes and returns the flattened core signature (a u64 cycle id is one
// i64); records are read and
// written at the offsets the canonical ABI gives them (wasm32: strings and
// lists are a 4-byte pointer and a 4-byte length; records align to their
// largest field).
//
// Memory: the host writes arguments through cabi_realloc while lowering
// them, when the Go runtime must not run a garbage collection that could
// call back into WASI. cabi_realloc therefore bump-allocates from arena
// chunks allocated ahead of time (and grown only between calls). Results are
// built in Go memory that stays reachable until the next call.

import (
	"unsafe"
)

// Offsets in the WIT records (wasm32).
const (
	podNamespace   = 0
	podName        = 8
	podLabels      = 24
	podAnnotations = 32
	// The `cycle-start` parameters are spilled to memory (more than 16 flat
	// values): the cycle id, then the pod record.
	cycleStartPod = 8

	changeSize     = 336 // disc u8, payload at 8 (the pod and node records align to 8)
	changePayload  = 8
	nodeSetNode    = 8 // tuple<node-id, node>: the node record at 8
	nodeName       = 0
	nodeLabels     = 8
	pairSize       = 16 // tuple<string, string>
	nodeStatusSize = 16 // node u32, status { code u8 at 4, reasons at 8 }
)

const (
	changeNodeSet = iota
	changeNodeRemoved
)

func ptr(addr uint32) unsafe.Pointer { return unsafe.Pointer(uintptr(addr)) }

func load8(addr uint32) uint8   { return *(*uint8)(ptr(addr)) }
func load32(addr uint32) uint32 { return *(*uint32)(ptr(addr)) }
func load64(addr uint32) uint64 { return *(*uint64)(ptr(addr)) }

func store8(addr uint32, v uint8)   { *(*uint8)(ptr(addr)) = v }
func store32(addr uint32, v uint32) { *(*uint32)(ptr(addr)) = v }
func store64(addr uint32, v uint64) { *(*uint64)(ptr(addr)) = v }

// loadString copies a WIT string out of the arena.
func loadString(addr uint32) string {
	data, length := load32(addr), load32(addr+4)
	if length == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(ptr(data)), length))
}

func loadLabels(addr uint32) map[string]string {
	data, length := load32(addr), load32(addr+4)
	labels := make(map[string]string, length)
	for i := uint32(0); i < length; i++ {
		pair := data + i*pairSize
		labels[loadString(pair)] = loadString(pair + 8)
	}
	return labels
}

func loadIDs(data, length uint32) []uint32 {
	ids := make([]uint32, length)
	for i := range ids {
		ids[i] = load32(data + uint32(i)*4)
	}
	return ids
}

func loadPod(addr uint32) *Pod {
	return &Pod{
		Namespace:   loadString(addr + podNamespace),
		Name:        loadString(addr + podName),
		Labels:      loadLabels(addr + podLabels),
		Annotations: loadLabels(addr + podAnnotations),
	}
}

// ---- Arena for cabi_realloc ----

var (
	arena     = make([]uint64, 1<<17) // 1 MiB
	arenaUsed uintptr                 // bytes
	arenaPeak uintptr
	// Chunks that served calls when the arena ran out; dropped after the call.
	overflow [][]uint64
)

//go:wasmexport cabi_realloc
func cabiRealloc(old, oldSize, align, newSize uint32) uint32 {
	base := uintptr(unsafe.Pointer(&arena[0]))
	start := (base + arenaUsed + uintptr(align) - 1) &^ (uintptr(align) - 1)
	var addr uintptr
	if start+uintptr(newSize) <= base+uintptr(len(arena))*8 {
		addr = start
		arenaUsed = start + uintptr(newSize) - base
	} else {
		// Rare: a call larger than the arena. Take a chunk of its own.
		chunk := make([]uint64, (newSize+7)/8+1)
		overflow = append(overflow, chunk)
		addr = uintptr(unsafe.Pointer(&chunk[0]))
	}
	if arenaUsed > arenaPeak {
		arenaPeak = arenaUsed
	}
	if old != 0 && oldSize != 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(addr)), oldSize), unsafe.Slice((*byte)(ptr(old)), oldSize))
	}
	return uint32(addr)
}

// endCall frees the arguments of the call that is ending, and grows the
// arena for the next one if this call used more than half of it.
func endCall() {
	if arenaPeak > uintptr(len(arena))*4 || len(overflow) > 0 {
		arena = make([]uint64, len(arena)*2)
	}
	arenaUsed, arenaPeak, overflow = 0, 0, nil
}

// ---- Results ----

// results keeps the buffers handed to the host alive until the next call.
var results [][]uint64

func beginCall() { results = results[:0] }

// alloc returns the address of n zeroed bytes that outlive the call.
func alloc(n int) uint32 {
	buf := make([]uint64, (n+7)/8+1)
	results = append(results, buf)
	return uint32(uintptr(unsafe.Pointer(&buf[0])))
}

func storeString(addr uint32, s string) {
	if len(s) == 0 {
		store32(addr, 0)
		store32(addr+4, 0)
		return
	}
	data := alloc(len(s))
	copy(unsafe.Slice((*byte)(ptr(data)), len(s)), s)
	store32(addr, data)
	store32(addr+4, uint32(len(s)))
}

// ---- Host imports ----

//go:wasmimport kws:scheduler/host@0.3.0 log
func hostLogRaw(level, data, length uint32)

func hostLog(level Level, message string) {
	var data uint32
	if len(message) > 0 {
		data = uint32(uintptr(unsafe.Pointer(unsafe.StringData(message))))
	}
	hostLogRaw(uint32(level), data, uint32(len(message)))
}

//go:wasmimport kws:scheduler/host@0.3.0 fail
func hostFailRaw(data, length uint32)

// hostFail ends the call as a fault of the plugin; the host does not
// return from it.
func hostFail(message string) {
	var data uint32
	if len(message) > 0 {
		data = uint32(uintptr(unsafe.Pointer(unsafe.StringData(message))))
	}
	hostFailRaw(data, uint32(len(message)))
}

// ---- Exports ----

//go:wasmexport kws:scheduler/lifecycle@0.3.0#metadata
func exportMetadata() uint32 {
	beginCall()
	defer endCall()
	ret := alloc(24)
	storeString(ret, plugin.Name)
	storeString(ret+8, plugin.Version)
	points := alloc(len(plugin.ExtensionPoints))
	for i, p := range plugin.ExtensionPoints {
		store8(points+uint32(i), uint8(p))
	}
	store32(ret+16, points)
	store32(ret+20, uint32(len(plugin.ExtensionPoints)))
	return ret
}

//go:wasmexport kws:scheduler/lifecycle@0.3.0#configure
func exportConfigure(data, length uint32) uint32 {
	beginCall()
	defer endCall()
	defer reportPanic()
	var args string
	if length > 0 {
		args = string(unsafe.Slice((*byte)(ptr(data)), length))
	}
	ret := alloc(12)
	if err := configure(args); err != nil {
		store8(ret, 1)
		storeString(ret+4, err.Error())
	}
	return ret
}

//go:wasmexport kws:scheduler/lifecycle@0.3.0#apply
func exportApply(data, length uint32) {
	beginCall()
	defer endCall()
	for i := uint32(0); i < length; i++ {
		change := data + i*changeSize
		payload := change + changePayload
		switch load8(change) {
		case changeNodeSet:
			id, record := load32(payload), payload+nodeSetNode
			nodes[id] = &Node{
				ID:     id,
				Name:   loadString(record + nodeName),
				Labels: loadLabels(record + nodeLabels),
			}
		case changeNodeRemoved:
			delete(nodes, load32(payload))
		}
	}
}

//go:wasmexport kws:scheduler/lifecycle@0.3.0#cycle-start
func exportCycleStart(params uint32) {
	beginCall()
	defer endCall()
	cycleStart(load64(params), loadPod(params+cycleStartPod))
}

//go:wasmexport kws:scheduler/lifecycle@0.3.0#cycle-end
func exportCycleEnd(cycle uint64) {
	beginCall()
	defer endCall()
	delete(cycles, cycle)
}

//go:wasmexport kws:scheduler/lifecycle@0.3.0#cycle-fork
func exportCycleFork(original, copy uint64) {
	beginCall()
	defer endCall()
	if pod, ok := cycles[original]; ok {
		cycles[copy] = pod
	}
}

//go:wasmexport kws:scheduler/filter@0.3.0#filter
func exportFilter(cycle uint64, data, length uint32) uint32 {
	beginCall()
	defer endCall()
	defer reportPanic()
	rejected := filter(cycle, loadIDs(data, length))
	ret := alloc(8)
	if len(rejected) == 0 {
		return ret
	}
	list := alloc(len(rejected) * nodeStatusSize)
	for i, r := range rejected {
		element := list + uint32(i)*nodeStatusSize
		store32(element, r.node)
		store8(element+4, uint8(r.status.Code))
		reasons := alloc(8)
		storeString(reasons, r.status.Reason)
		store32(element+8, reasons)
		store32(element+12, 1)
	}
	store32(ret, list)
	store32(ret+4, uint32(len(rejected)))
	return ret
}

// storeScores writes a result<list<s64>, string>.
func storeScores(scores []int64, err error) uint32 {
	ret := alloc(12)
	if err != nil {
		store8(ret, 1)
		storeString(ret+4, err.Error())
		return ret
	}
	if len(scores) > 0 {
		list := alloc(len(scores) * 8)
		for i, s := range scores {
			store64(list+uint32(i)*8, uint64(s))
		}
		store32(ret+4, list)
		store32(ret+8, uint32(len(scores)))
	}
	return ret
}

//go:wasmexport kws:scheduler/score@0.3.0#score
func exportScore(cycle uint64, data, length uint32) uint32 {
	beginCall()
	defer endCall()
	defer reportPanic()
	return storeScores(score(cycle, loadIDs(data, length)))
}

//go:wasmexport kws:scheduler/score@0.3.0#normalize-score
func exportNormalizeScore(_ uint64, _, _, data, length uint32) uint32 {
	beginCall()
	defer endCall()
	scores := make([]int64, length)
	for i := range scores {
		scores[i] = *(*int64)(ptr(data + uint32(i)*8))
	}
	return storeScores(scores, nil)
}
