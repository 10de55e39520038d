export {
  type Kek,
  kekOf,
  keyBytes,
  newDataKey,
  openValue,
  rewrapDataKey,
  SealBrokenError,
  sealValue,
  unwrapDataKey,
  type ValueBinding,
  type WrappedDataKey,
} from './domain/envelope.ts'
