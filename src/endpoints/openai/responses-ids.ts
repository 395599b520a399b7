// Ids of the Responses API, made from the inference id so they map back without a lookup table:
// a response is `resp_<inference id, hex without dashes>`; an output item is `<kind>_<inference hex>_<k>`, the k-th
// block of its kind in the inference's output (`msg` text, `fc` tool call, `rs` reasoning), so an `item_reference`
// names the stored block it was made from.
const HEX32 = /^[0-9a-f]{32}$/

export type ItemKind = 'msg' | 'fc' | 'rs'

const hexOf = (inferenceId: string): string => inferenceId.replace(/-/g, '').toLowerCase()
const uuidOf = (hex: string): string => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`

export function responseIdOf (inferenceId: string): string {
  return `resp_${hexOf(inferenceId)}`
}

/** The inference id a response id was made from; undefined when the id is not of that form. */
export function inferenceIdOfResponse (responseId: string): string | undefined {
  const hex = responseId.startsWith('resp_') ? responseId.slice(5).toLowerCase() : ''
  return HEX32.test(hex) ? uuidOf(hex) : undefined
}

export function itemIdOf (kind: ItemKind, inferenceId: string, k: number): string {
  return `${kind}_${hexOf(inferenceId)}_${k}`
}

export function parseItemId (itemId: string): { kind: ItemKind; inferenceId: string; k: number } | undefined {
  const m = /^(msg|fc|rs)_([0-9a-f]{32})_(\d{1,6})$/.exec(itemId.toLowerCase())
  return m === null ? undefined : { kind: m[1] as ItemKind, inferenceId: uuidOf(m[2]), k: Number(m[3]) }
}
