// Seeded random token ids (mulberry32), so that Hearth's and the peer's benchmarks evaluate the same ids.
// randomTokens(seed, nVocab)(count) -> `count` ids in [0, nVocab), continuing the same stream on each call.
export function randomTokens(seed, nVocab) {
    let state = seed >>> 0;
    return (count) => Array.from({length: count}, () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) % nVocab;
    });
}
