export {
  type Compensation,
  defineSaga,
  type RetryPolicy,
  type SagaCommand,
  type SagaDefinition,
  type SagaStep,
  type Settlement,
  type Settlers,
  type StepContext,
} from './define.ts'
export {
  createSagaEngine,
  type SagaEngine,
  type SagaEngineOptions,
  type SagaHistoryEntry,
  type SagaInstance,
  type StartSaga,
} from './engine.ts'
export { fold, type SagaEvent, type SagaFailure, type SagaState, type SagaStatus } from './machine.ts'
