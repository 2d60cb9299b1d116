import { retainedStoreContract } from '../contract.js';
import { MemoryRetainedStore } from './retained.js';

retainedStoreContract('memory', () => new MemoryRetainedStore());
